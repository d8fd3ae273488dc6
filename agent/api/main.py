"""The API router: every resource's router under one."""

from __future__ import annotations

from fastapi import APIRouter

from lts.agent.api.routes import device, health, jobs, measure

api_router = APIRouter()
for _module in (health, device, jobs, measure):
    api_router.include_router(_module.router)
