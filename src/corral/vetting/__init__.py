"""Static vetting: corral's own AST rules, findings at file:line, text/JSON/SARIF reports."""
