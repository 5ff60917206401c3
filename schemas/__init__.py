"""Pandera schemas mirroring the Leads API field rules."""
