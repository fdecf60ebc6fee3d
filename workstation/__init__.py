"""Tools a developer runs from a workstation against the app and an AWS account."""
