# Bash completion for circusctl: command names, then watcher names.
#
# Install: source this file from ~/.bashrc, or copy it to
# /etc/bash_completion.d/circusctl (or /usr/share/bash-completion/completions/circusctl).
# circusctl computes the candidates itself when AUTO_COMPLETE is set; watcher
# names come from the daemon (give --endpoint before the command if it is not
# the default one).

_circusctl() {
    local IFS=$' \t\n'
    COMPREPLY=( $(COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" AUTO_COMPLETE=1 \
                  "${COMP_WORDS[0]}" 2>/dev/null) )
}

complete -o default -F _circusctl circusctl
