"""The Web API's handlers, one module per kind of resource; `p2c/emulator/routes.py` says which handler
answers which method and URL. Each handler takes the `ApiCall` and the match of its URL pattern."""
