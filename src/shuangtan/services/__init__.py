"""Use cases over the core: the batch calculation contract, inventories of activity data."""
