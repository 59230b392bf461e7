#!/bin/sh
# Stand-in for smartctl: loop devices have no serial number; give each one
# a fixed identity derived from its name.
for a; do dev=$a; done
n=$(basename "$dev" | tr a-z A-Z)
cat <<OUT
smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)
Copyright (C) 2002-22, Bruce Allen, Christian Franke, www.smartmontools.org

=== START OF INFORMATION SECTION ===
Device Model:     VALISE TEST DISK
Serial Number:    VALTEST-$n
Firmware Version: T1.0

OUT
exit 0
