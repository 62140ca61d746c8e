"""Cryptography providers (GM/T algorithms): SM4-GCM for data at rest; SM3 lives in ``gongshu.kit.hashing``."""
