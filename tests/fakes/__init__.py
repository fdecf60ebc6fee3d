"""Local stand-ins that speak the real wire formats, for tests of the code that reads them."""
