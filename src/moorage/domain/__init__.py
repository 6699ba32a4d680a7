"""Business rules. Imports `moorage.oci` and itself only; adapters implement its ports."""
