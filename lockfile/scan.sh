scan "$@"
