package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// PutEnrollToken writes (replaces) an enrolment token, keyed by its hash.
func (s *Store) PutEnrollToken(t fleet.EnrollToken) error {
	if t.Hash == "" || t.ID == "" {
		return fmt.Errorf("put enrolment token: %w: id and hash are required", ErrInvalid)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketEnrollTokens), []byte(t.Hash), t)
	})
}

// EnrollTokens returns every enrolment token, used up and expired ones
// included, in hash order.
func (s *Store) EnrollTokens() ([]fleet.EnrollToken, error) {
	var out []fleet.EnrollToken
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEnrollTokens).ForEach(func(k, v []byte) error {
			var t fleet.EnrollToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("enrolment token: %w: %v", ErrCorrupt, err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// Credential returns the MQTT credential of a username.
func (s *Store) Credential(username string) (fleet.Credential, error) {
	var c fleet.Credential
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketCredentials), []byte(username), "credential "+username, &c)
	})
	return c, err
}

// PutAPIToken writes (replaces) an API token, keyed by its hash.
func (s *Store) PutAPIToken(t fleet.APIToken) error {
	if t.Hash == "" || t.ID == "" {
		return fmt.Errorf("put API token: %w: id and hash are required", ErrInvalid)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketAPITokens), []byte(t.Hash), t)
	})
}

// APIToken returns the API token with this hash.
func (s *Store) APIToken(hash string) (fleet.APIToken, error) {
	var t fleet.APIToken
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketAPITokens), []byte(hash), "API token", &t)
	})
	return t, err
}

// APITokens returns every API token, in hash order.
func (s *Store) APITokens() ([]fleet.APIToken, error) {
	var out []fleet.APIToken
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPITokens).ForEach(func(k, v []byte) error {
			var t fleet.APIToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("API token: %w: %v", ErrCorrupt, err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// getJSON decodes the value at key into v; json.Unmarshal copies, so
// nothing read inside the transaction escapes it.
func getJSON(b *bolt.Bucket, key []byte, what string, v any) error {
	data := b.Get(key)
	if data == nil {
		return notFoundError{what}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w: %v", what, ErrCorrupt, err)
	}
	return nil
}
