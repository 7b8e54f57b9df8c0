"""pybox's docker-style commands, one module each: parse docker's flags, call the engine, render."""
