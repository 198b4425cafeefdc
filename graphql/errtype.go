package graphql

import "fmt"

// fmtType names an error's dynamic type for logs, which never carry error text that could
// hold personal data.
func fmtType(err error) string { return fmt.Sprintf("%T", err) }
