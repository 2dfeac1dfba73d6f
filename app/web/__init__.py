"""HTTP only: each module turns requests into calls of the domain modules."""
