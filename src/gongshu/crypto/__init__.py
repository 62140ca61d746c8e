"""Cryptography providers (GM/T algorithms): SM4-GCM for data at rest (``sm4``), SM2 signatures behind a
provider seam (``sm2``); SM3 lives in ``gongshu.kit.hashing``."""
