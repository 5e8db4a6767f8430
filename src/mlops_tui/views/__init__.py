"""What both front ends show that spans sources: health and status (`health`), the fleet of
environments side by side (`fleet`), an alert's triage (`triage`), and each model's MLOps maturity
level with its evidence (`maturity`)."""
