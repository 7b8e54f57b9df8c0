"""One module a command: parse the arguments, call the library, render the result."""
