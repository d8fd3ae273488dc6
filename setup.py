"""Installs the top-level folders ``agent/``, ``controller/`` and ``shared/`` as the packages
``lts.agent``, ``lts.controller`` and ``lts.shared`` (``lts`` is a namespace package), so that no
other distribution's top-level ``agent`` or ``controller`` can clash with them. Everything else
is in pyproject.toml; this file only computes the packages, since a checkout may hold a subset
(docker/agent.Dockerfile copies ``shared/`` and ``agent/`` alone)."""

from setuptools import find_packages, setup

ROOTS = ("shared", "agent", "controller")
found = find_packages(include=[f"{r}*" for r in ROOTS])
setup(
    packages=[f"lts.{p}" for p in found],
    package_dir={f"lts.{r}": r for r in ROOTS if r in found},
)
