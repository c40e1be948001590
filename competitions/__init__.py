"""Competitions, their data, teams, submissions and leaderboards."""
