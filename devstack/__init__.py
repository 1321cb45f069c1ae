"""Local tooling, apart from the service: `make run` (stack.py), `make demo` (demo.py), and the
two admins of a handover played (people.py: the demo's, the tests', the recordings').

The service's packages (handover, workflows, activities, endpoint) never import this one, and it
is not part of the installed service (nor of its image): run it from the repository, as the
Makefile does (`python -m devstack`)."""
