"""One module per panel. Panels draw plain results and send commands; they never touch tensors or files."""
