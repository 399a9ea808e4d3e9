"""The contracts the steps share: dbt's artifacts (`artifacts`) and the Dataverse contract of every dualwrite
model (`dataverse`, the `meta.dataverse` blocks), each read in one place."""
