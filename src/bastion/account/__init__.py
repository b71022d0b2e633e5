"""The account security center: devices and sessions, freeze and recovery, allowlist management, the checklist."""
