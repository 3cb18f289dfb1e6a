# Sourced by every stand-in: append "<name> <arguments>" (one line; an
# argument with other characters than [A-Za-z0-9_./:=,@+%-] quoted as
# printf %q does) to $STANDIN_LOG (default
# /var/log/standins.log), and read the sandbox's settings from
# /etc/lablink-standins.conf (STANDIN_FAIL: "<name> <first argument>"
# entries, space-separated, that exit 1; others the stand-ins name).
STANDIN_LOG=${STANDIN_LOG:-/var/log/standins.log}
# shellcheck disable=SC1091
[ -f /etc/lablink-standins.conf ] && . /etc/lablink-standins.conf
standin_name=$(basename "$0")
{
    printf '%s' "$standin_name"
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=,@+%-]*$ ]]; then printf ' %s' "$a"; else printf ' %q' "$a"; fi
    done
    printf '\n'
} >>"$STANDIN_LOG"
# standin_fails WORD: true when "<name> WORD" is in STANDIN_FAIL
standin_fails() {
    case " ${STANDIN_FAIL:-} " in *" $standin_name:$1 "*) return 0 ;; esac
    return 1
}
