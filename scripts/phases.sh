# Timed phases for scripts/install and scripts/test (sourced). `phase NAME COMMAND...` runs COMMAND (a function
# too) with errexit in a subshell and appends "NAME SECONDS" to $ARTICLECHAT_PHASES when it is set (scripts/test
# sets it and prints the table at the end); it returns COMMAND's status. Do not call it in an if, && or || list:
# bash ignores errexit there, inside the subshell too.
phase() {
  local name=$1 start=$SECONDS status
  shift
  set +e
  (set -e; "$@")
  status=$?
  set -e
  if [ -n "${ARTICLECHAT_PHASES:-}" ]; then printf '%s %d\n' "$name" $((SECONDS - start)) >>"$ARTICLECHAT_PHASES"; fi
  return "$status"
}
