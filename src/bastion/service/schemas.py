"""What every request body shares: unknown fields are refused.

A caller who writes `permissions` where the API says `perms`, or sends a `user_id` the route takes from the
credential, gets a 422 naming the field instead of a request that silently did something else (a key created
read-only, a field ignored). Response models are unaffected.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
