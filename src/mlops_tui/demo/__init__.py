"""The demo: realistic data made through the real MLflow API (`seed`), and the small trainer the
local runner and the demo run (`trainer`, `python -m mlops_tui.demo.trainer`)."""
