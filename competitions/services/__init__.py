"""Write actions on competitions, teams and submissions, one module per subject; import
the module you need (this package re-exports nothing)."""
