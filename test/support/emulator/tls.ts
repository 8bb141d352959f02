// Self-signed certificate for the emulator's TLS listener (kubectl only sends bearer tokens over TLS).
// Generated once for tests: CN=kube-apiserver-emulator, SAN 127.0.0.1/localhost, EC P-256, 100 years.
// It protects nothing; kubeconfigs use insecure-skip-tls-verify.

export const EMULATOR_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIB3TCCAYOgAwIBAgIUFhzG1i0N+iy0UBBx499aVlnWoFMwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXa3ViZS1hcGlzZXJ2ZXItZW11bGF0b3IwIBcNMjYxMTI2MDI0
MTE4WhgPMjEyNjExMDIwMjQxMThaMCIxIDAeBgNVBAMMF2t1YmUtYXBpc2VydmVy
LWVtdWxhdG9yMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEldSrNrfSmgOceRFN
lyXE5MJ37xYEJS+64SN8FDgNOLvxWZb4i3Yhx+I4jnG6RuCe0Sjx7bjckDrMm6Yw
UYnYXqOBlDCBkTAdBgNVHQ4EFgQUXJrhOng/zSMb0gQggi/Uq9u3HEswHwYDVR0j
BBgwFoAUXJrhOng/zSMb0gQggi/Uq9u3HEswDwYDVR0TAQH/BAUwAwEB/zA+BgNV
HREENzA1hwR/AAABgglsb2NhbGhvc3SCCmt1YmVybmV0ZXOCFmt1YmVybmV0ZXMu
ZGVmYXVsdC5zdmMwCgYIKoZIzj0EAwIDSAAwRQIgMRfU4fq90mKvr14avd+Piktt
KyzXb8x9JCrNLA8A/igCIQDYl/4EBHcySr0XqfS1wlyPA0pN5axethSb7aW1LM1m
Jw==
-----END CERTIFICATE-----
`;

export const EMULATOR_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ/531RiwBG9aXC+O
5BHf/x+l6kisSZoX2YlEo1cN5GKhRANCAASV1Ks2t9KaA5x5EU2XJcTkwnfvFgQl
L7rhI3wUOA04u/FZlviLdiHH4jiOcbpG4J7RKPHtuNyQOsybpjBRidhe
-----END PRIVATE KEY-----
`;
