"""Study tasks for the training engine, one module per study."""
