// Package cache keeps what imapfs knows of each mailbox: its UIDVALIDITY
// and, per UID, the size, INTERNALDATE and flags; and message bodies, in a
// memory LRU bounded in bytes and optionally on disk. Bodies are immutable
// for a given UIDVALIDITY and UID, which is what makes them cacheable.
package cache
