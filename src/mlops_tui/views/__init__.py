"""What both front ends show that spans sources: health and status (`health`), the fleet of
environments side by side (`fleet`), and an alert's triage (`triage`)."""
