# bash completion for quipu, the command-line client of quipud.
#
# Install: source this file, or copy it to
# ~/.local/share/bash-completion/completions/quipu (bash-completion loads it
# on first use).
#
# NOTE arguments complete with the vault's Markdown files, as vault-relative
# paths (what quipud expects), from wherever in the vault you are. The vault
# is --vault DIR when given, else the nearest directory at or above the
# current one that holds a .obsidian/ folder (as quipu itself finds it).

# Prints the vault root for the current command line, or nothing.
_quipu_vault()
{
    local i dir
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --vault) dir=${COMP_WORDS[i + 1]} ;;
        --vault=*) dir=${COMP_WORDS[i]#--vault=} ;;
        esac
    done
    if [[ -n $dir ]]; then
        dir=${dir/#\~/$HOME}
        [[ -d $dir ]] && (cd -- "$dir" && pwd -P)
        return
    fi
    dir=$(pwd -P)
    while [[ -n $dir ]]; do
        if [[ -d $dir/.obsidian ]]; then
            printf '%s\n' "$dir"
            return
        fi
        [[ $dir == / ]] && return
        dir=${dir%/*}
        [[ -z $dir ]] && dir=/
    done
}

# Completes $cur with vault-relative folders and .md files.
_quipu_notes()
{
    local cur=$1 vault path rel
    vault=$(_quipu_vault)
    [[ -z $vault ]] && return
    local IFS=$'\n'
    for path in $(compgen -f -- "$vault/$cur"); do
        rel=${path#"$vault"/}
        [[ ${rel##*/} == .* ]] && continue # .obsidian, .git, .trash
        if [[ -d $path ]]; then
            COMPREPLY+=("$rel/")
        elif [[ $path == *.md ]]; then
            COMPREPLY+=("$rel")
        fi
    done
    # Folders end in "/": keep completing inside them instead of adding a space.
    compopt -o nospace -o filenames 2>/dev/null
    if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} != */ ]]; then
        compopt +o nospace 2>/dev/null
    fi
}

_quipu()
{
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}

    # The commands and their options come from quipu's own help (its command
    # table), so commands added later complete too; the lists are a fallback.
    local quipu=${COMP_WORDS[0]}
    local commands
    commands=$("$quipu" help 2>/dev/null | awk '/^  [a-z]/ {print $1}')
    [[ -z $commands ]] && commands="status backlinks mentions tasks blocks note resolve watch stop eval-tasks help"
    local globals="--socket --vault --json --vimgrep --color --no-color --help --version"

    # The subcommand: the first word that is neither an option nor an option's value.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --socket | --vault | --color | --today | --from | --timeout) ((i++)) ;;
        -*) ;;
        *)
            cmd=${COMP_WORDS[i]}
            break
            ;;
        esac
    done

    case $prev in
    --socket)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    --vault)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
        return
        ;;
    --color)
        COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
        return
        ;;
    --today)
        COMPREPLY=($(compgen -W "$(date +%F)" -- "$cur"))
        return
        ;;
    --from)
        _quipu_notes "$cur"
        return
        ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$globals" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local opts="--json --vimgrep --socket --vault --color --help"
    local own
    own=$("$quipu" "$cmd" --help 2>/dev/null | awk '/^  --/ {print $1}')
    if [[ -n $own ]]; then
        opts+=" $own"
    else
        case $cmd in
        status) opts+=" --wait --timeout" ;;
        backlinks) opts+=" --unlinked" ;;
        tasks) opts+=" --today --from" ;;
        blocks) opts+=" --today" ;;
        resolve) opts+=" --from" ;;
        stop) opts+=" --timeout" ;;
        esac
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    case $cmd in
    backlinks | mentions | note | blocks | resolve)
        _quipu_notes "$cur"
        ;;
    watch)
        # The first argument is the method; later ones are key=value params.
        local n=0
        for ((i = i + 1; i < COMP_CWORD; i++)); do
            [[ ${COMP_WORDS[i]} != -* ]] && ((n++))
        done
        if ((n == 0)); then
            COMPREPLY=($(compgen -W "status backlinks mentions tasks.query tasks.blocks note resolve" -- "$cur"))
        elif [[ $cur == note=* ]]; then
            _quipu_notes "${cur#note=}"
            COMPREPLY=("${COMPREPLY[@]/#/note=}")
        else
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "note= query= today= link= from= unlinked=true" -- "$cur"))
        fi
        ;;
    esac
}

complete -F _quipu quipu
