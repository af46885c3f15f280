"""What the rules know about a module: names, calls, data flow, model stacks."""
