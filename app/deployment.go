package app

import (
	"context"

	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/infra/keyring"
)

// EvidenceDeployment is what an installation reports of itself in a DPIA evidence bundle:
// who holds the key-encryption key (a file here), its versions and the key store's record of
// when each came into use and was rotated to, the ledger's public key and the API's TLS.
// `arkiv evidence export` and the exportEvidence job both build it here.
func EvidenceDeployment(ctx context.Context, kr *keyring.Keyring, kek *keyring.FileKEK, ledgerKey string, servesTLS bool) (*evidence.Deployment, error) {
	cur, err := kek.CurrentVersion(ctx)
	if err != nil {
		return nil, err
	}
	hist, err := kr.KEKHistory(ctx)
	if err != nil {
		return nil, err
	}
	dep := &evidence.Deployment{KEKHolder: "file", KEKVersions: kek.Versions(), CurrentKEKVersion: cur,
		DataKeys:  "one AES-256-GCM key per data subject, wrapped under the KEK (crypto-shredding)",
		LedgerKey: ledgerKey, TLSConfigured: servesTLS, TLSMinVersion: "1.2"}
	for _, v := range hist {
		dep.KEKHistory = append(dep.KEKHistory, evidence.KEKVersion{Version: v.Version, InUseSince: v.InUseSince,
			RotationStartedAt: v.RotationStartedAt, RotationCompletedAt: v.RotationCompletedAt, KeysRewrapped: v.KeysRewrapped})
	}
	return dep, nil
}
