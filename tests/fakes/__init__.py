"""Fake upstream providers: real HTTP servers on loopback that replay golden fixtures."""
