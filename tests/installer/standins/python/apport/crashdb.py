"""Stand-in: subiquity imports it; the dry-run never uploads a report."""
