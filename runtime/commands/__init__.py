"""pybox-runc's commands, one module each (runc's names and flags): parse the arguments, call the
runtime, render the result."""
