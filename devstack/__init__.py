"""Local tooling, apart from the service: `make run` (stack.py) and `make demo` (demo.py).

The service's packages (handover, workflows, activities, endpoint) never import this one."""
