"""Study 2 report (placeholder while the runs are built)."""
