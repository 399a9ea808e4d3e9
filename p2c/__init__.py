"""p2c-dualwrite: move Dynamics 365 Sales data from Prospect to cash (Data Integrator) to dual-write."""

__version__ = "0.1.0"
