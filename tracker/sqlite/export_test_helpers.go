package sqlite

// QueryRowForTest runs a read-only query for tests in other packages that
// check what is on disk (outbox rows, duplicate rows). It is not part of the
// service interfaces and must not be used by production code.
func (s *Store) QueryRowForTest(query string, dest ...any) error {
	return s.reader.QueryRow(query).Scan(dest...)
}
