# Run at every build (cmake -P): writes OUT, the C definition of the git
# commit the programs report in --version, and touches it only when the
# commit changes (so an unchanged tree relinks nothing).
#   SRC     the source tree
#   OUT     the file to write
#   COMMIT  given by the packager (-DLABLINK_COMMIT=...); else asked from git
if(COMMIT STREQUAL "")
    execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
        OUTPUT_VARIABLE COMMIT RESULT_VARIABLE rc
        OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT rc EQUAL 0 OR COMMIT STREQUAL "")
        set(COMMIT unknown)
    else()
        execute_process(COMMAND git -C "${SRC}" status --porcelain
            --untracked-files=no OUTPUT_VARIABLE dirty ERROR_QUIET)
        if(NOT dirty STREQUAL "")
            set(COMMIT "${COMMIT}-dirty")
        endif()
    endif()
endif()
string(REGEX REPLACE "[^A-Za-z0-9._+-]" "" COMMIT "${COMMIT}")
file(WRITE "${OUT}.tmp" "const char ll_build_commit_text[] = \"${COMMIT}\";\n")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
