"""What the phone's own files say: properties, ``/sys``, ``/proc/meminfo``, dumpsys and the tools.

Pure functions from a profile (and the live thermal state) to ``{path inside the phone: text}``.
The server writes the static ones once and rewrites the dynamic ones on every thermal tick, so
``cat``, ``getprop`` and ``dumpsys`` in any shell pipeline read what a real phone would print.
"""

from __future__ import annotations

import shlex
import time

from workers.virtual_phone.profile import ZONE_KINDS, Profile
from workers.virtual_phone.thermal import ThermalState

__all__ = ["STATE_DIR", "dynamic_files", "static_files", "tool_scripts"]

#: where the phone keeps the text its emulated tools print
STATE_DIR = "/system/vphone"
PROP_FILE = "/system/build.prop"
LOG_FILE = f"{STATE_DIR}/logcat"
#: the ring buffer sizes ``logcat -G`` set, a file per buffer (bytes); unset ones are 256 KiB
LOG_SIZES = f"{STATE_DIR}/logcat-sizes"


def static_files(profile: Profile) -> dict[str, str]:
    files = {PROP_FILE: "".join(f"{k}={v}\n" for k, v in sorted(profile.properties().items()))}
    files[f"{STATE_DIR}/meminfo"] = _meminfo(profile.mem_total_kb)
    files[f"{STATE_DIR}/dumpsys/SurfaceFlinger"] = _surfaceflinger(profile)
    files[LOG_FILE] = ""
    cpu = "/sys/devices/system/cpu"
    last = profile.core_count - 1
    for name in ("possible", "present", "online"):
        files[f"{cpu}/{name}"] = f"0-{last}\n"
    files[f"{cpu}/offline"] = "\n"
    files[f"{cpu}/kernel_max"] = f"{max(last, 7)}\n"
    for cluster_id, cl in enumerate(profile.clusters):
        related = _cpu_list(cl.cores)
        for core in cl.cores:
            base = f"{cpu}/cpu{core}"
            files[f"{base}/online"] = "1\n"
            files[f"{base}/topology/core_id"] = f"{core - cl.cores[0]}\n"
            files[f"{base}/topology/cluster_id"] = f"{cluster_id}\n"
            files[f"{base}/topology/physical_package_id"] = f"{cluster_id}\n"
            files[f"{base}/topology/core_siblings_list"] = f"{related}\n"
            files[f"{base}/topology/thread_siblings_list"] = f"{core}\n"
            freq = f"{base}/cpufreq"
            files[f"{freq}/cpuinfo_max_freq"] = f"{cl.max_freq_khz}\n"
            files[f"{freq}/cpuinfo_min_freq"] = f"{cl.min_freq_khz}\n"
            files[f"{freq}/scaling_max_freq"] = f"{cl.max_freq_khz}\n"
            files[f"{freq}/scaling_min_freq"] = f"{cl.min_freq_khz}\n"
            files[f"{freq}/scaling_governor"] = f"{cl.governor}\n"
            files[f"{freq}/scaling_available_governors"] = f"{cl.governor} performance powersave\n"
            files[f"{freq}/related_cpus"] = " ".join(str(c) for c in cl.cores) + "\n"
            files[f"{freq}/affected_cpus"] = files[f"{freq}/related_cpus"]
    for index, zone in enumerate(profile.thermal.zones):
        files[f"/sys/class/thermal/thermal_zone{index}/type"] = f"{zone.name}\n"
        files[f"/sys/class/thermal/thermal_zone{index}/mode"] = "enabled\n"
    ps = "/sys/class/power_supply/battery"
    files[f"{ps}/type"] = "Battery\n"
    files[f"{ps}/technology"] = f"{profile.battery.technology}\n"
    files[f"{ps}/present"] = "1\n"
    files[f"{ps}/health"] = "Good\n"
    return files


def dynamic_files(profile: Profile, thermal: ThermalState, *, busy_fraction: float) -> dict[str, str]:
    """Files that follow the phone's temperature and load."""
    files: dict[str, str] = {}
    for index, zone in enumerate(profile.thermal.zones):
        millic = round(thermal.temps[zone.name] * 1000)
        files[f"/sys/class/thermal/thermal_zone{index}/temp"] = f"{millic}\n"
    status = thermal.status()
    for cl in profile.clusters:
        # throttling caps the clock: each thermal status step above MODERATE takes 15% off
        cap = cl.max_freq_khz * (1.0 - 0.15 * max(0, status - 1))
        busy_freq = max(cl.min_freq_khz, round(cap))
        cur = busy_freq if busy_fraction > 0.05 else cl.min_freq_khz
        for core in cl.cores:
            base = f"/sys/devices/system/cpu/cpu{core}/cpufreq"
            files[f"{base}/scaling_cur_freq"] = f"{cur}\n"
            files[f"{base}/scaling_max_freq"] = f"{busy_freq}\n"
    battery_c = thermal.temperature("battery")
    b = profile.battery
    ps = "/sys/class/power_supply/battery"
    files[f"{ps}/capacity"] = f"{b.level}\n"
    files[f"{ps}/temp"] = f"{round(battery_c * 10)}\n"
    files[f"{ps}/status"] = "Charging\n" if b.charging else "Discharging\n"
    files[f"{ps}/voltage_now"] = f"{b.voltage_mv * 1000}\n"
    files[f"{STATE_DIR}/dumpsys/battery"] = _dumpsys_battery(profile, battery_c)
    files[f"{STATE_DIR}/dumpsys/thermalservice"] = _dumpsys_thermal(profile, thermal)
    return files


def _cpu_list(cores: tuple[int, ...]) -> str:
    return f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])


def _meminfo(total_kb: int) -> str:
    free = total_kb * 38 // 100
    rows = [
        ("MemTotal", total_kb), ("MemFree", free), ("MemAvailable", total_kb * 55 // 100),
        ("Buffers", total_kb // 200), ("Cached", total_kb * 20 // 100), ("SwapCached", 0),
        ("Active", total_kb * 25 // 100), ("Inactive", total_kb * 15 // 100),
        ("SwapTotal", total_kb // 2), ("SwapFree", total_kb * 45 // 100),
    ]
    return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in rows)


def _surfaceflinger(profile: Profile) -> str:
    g = profile.gpu
    return (
        "SurfaceFlinger global state:\n"
        f"GLES: {g['vendor']}, {g['renderer']}, {g['gles_version']}\n"
        "  Region undefinedRegion (this=0, count=0)\n"
    )


def _dumpsys_battery(profile: Profile, battery_c: float) -> str:
    b = profile.battery
    return (
        "Current Battery Service state:\n"
        "  AC powered: false\n"
        f"  USB powered: {'true' if b.charging else 'false'}\n"
        "  Wireless powered: false\n"
        "  Max charging current: 500000\n"
        "  Max charging voltage: 5000000\n"
        f"  Charge counter: {b.level * 40000}\n"
        f"  status: {2 if b.charging else 3}\n"
        "  health: 2\n"
        "  present: true\n"
        f"  level: {b.level}\n"
        "  scale: 100\n"
        f"  voltage: {b.voltage_mv}\n"
        f"  temperature: {round(battery_c * 10)}\n"
        f"  technology: {b.technology}\n"
    )


def _dumpsys_thermal(profile: Profile, thermal: ThermalState) -> str:
    status = thermal.status()
    lines = []
    for zone in profile.thermal.zones:
        t = thermal.temps[zone.name]
        excess = t - profile.thermal.overheat_c
        zone_status = sum(1 for s in (-8.0, -5.0, -2.0, 0.0, 3.0, 6.0) if excess >= s)
        lines.append(
            f"\tTemperature{{mValue={t:.1f}, mType={ZONE_KINDS[zone.kind]}, "
            f"mName={zone.name}, mStatus={zone_status}}}\n"
        )
    temps = "".join(lines)
    return (
        "IsStatusOverride: false\n"
        "ThermalEventListeners:\n\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n"
        "ThermalStatusListeners:\n\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n"
        f"Thermal Status: {status}\n"
        f"Cached temperatures:\n{temps}"
        "HAL Ready: true\n"
        "HAL connection:\n\tThermalHAL 2.0 connected: yes\n"
        f"Current temperatures from HAL:\n{temps}"
        "Current cooling devices from HAL:\n"
        "\tCoolingDevice{mValue=0, mType=2, mName=thermal-cpufreq-0}\n"
    )


def log_line(tag: str, message: str, *, level: str = "I", pid: int = 1) -> str:
    """One ``logcat -v threadtime`` line."""
    now = time.time()
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    return f"{stamp} {pid:>5} {pid:>5} {level} {tag}: {message}\n"


def tool_scripts(profile: Profile, host_cpus: list[int]) -> dict[str, str]:
    """``/system/bin`` tools that exist on phones but not here, as POSIX sh scripts."""
    mapping = " ".join(str(host_cpus[i % len(host_cpus)]) for i in range(profile.core_count))
    ro_props = shlex.quote(PROP_FILE)
    return {
        "/system/bin/getprop": f"""#!/bin/sh
# getprop [NAME [DEFAULT]]: the phone's properties, from {PROP_FILE}
if [ $# -eq 0 ]; then
  while IFS= read -r line; do
    printf '[%s]: [%s]\\n' "${{line%%=*}}" "${{line#*=}}"
  done < {ro_props}
  exit 0
fi
while IFS= read -r line; do
  case "$line" in
    "$1="*) printf '%s\\n' "${{line#*=}}"; exit 0 ;;
  esac
done < {ro_props}
printf '%s\\n' "${{2-}}"
""",
        "/system/bin/setprop": f"""#!/bin/sh
# setprop NAME VALUE: read-only (ro.*) properties cannot change, as on a phone
if [ $# -ne 2 ]; then echo "usage: setprop NAME VALUE" >&2; exit 1; fi
case "$1" in ro.*) echo "Failed to set property '$1' to '$2'." >&2; exit 1 ;; esac
tmp={ro_props}.new
grep -v -F -e "$1=" {ro_props} > "$tmp" || true
printf '%s=%s\\n' "$1" "$2" >> "$tmp"
mv "$tmp" {ro_props}
""",
        "/system/bin/dumpsys": f"""#!/bin/sh
# dumpsys [-l | SERVICE]: the services this phone emulates
dir={STATE_DIR}/dumpsys
if [ $# -eq 0 ] || [ "$1" = "-l" ]; then
  echo "Currently running services:"; ls "$dir" | sed 's/^/  /'; exit 0
fi
if [ -f "$dir/$1" ]; then cat "$dir/$1"; exit 0; fi
echo "Can't find service: $1" >&2
exit 0
""",
        "/system/bin/logcat": _LOGCAT.replace("@LOG@", shlex.quote(LOG_FILE)).replace(
            "@SIZES@", shlex.quote(LOG_SIZES)),
        "/system/bin/taskset": f"""#!/bin/sh
# taskset [-p] [-a] MASK (PID | COMMAND...): the phone's CPU ids mapped onto this host's CPUs
# (phone cpu i runs on host cpu MAP[i]), then the real taskset
MAP="{mapping}"
opts=""
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-a|-ap|-pa) opts="$opts $1"; shift ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then exec /usr/bin/taskset $opts "$@"; fi
mask=$((0x${{1#0x}})); shift
list=""; i=0
for host in $MAP; do
  if [ $(( (mask >> i) & 1 )) -eq 1 ]; then list="$list,$host"; fi
  i=$((i + 1))
done
if [ -z "$list" ]; then echo "taskset: sched_setaffinity: Invalid argument" >&2; exit 1; fi
exec /usr/bin/taskset $opts -c "${{list#,}}" "$@"
""",
    }


# Not an f-string: the script is mostly ${...}; @LOG@ and @SIZES@ are its two paths.
_LOGCAT = r"""#!/bin/sh
# logcat [-c] [-d] [-g] [-G SIZE] [-t N|TIME] [-T N] [-b BUFFER]... [-v FORMAT] [FILTERSPEC]...
# The phone's log is @LOG@, the main buffer (the others hold no lines). As on a phone, -c, -g
# and -G act on the buffers and return, -d and -t print what is there and return; only a plain
# logcat or -T follows the log.
log=@LOG@
sizes=@SIZES@
clear=0 get=0 set='' dump=0 count='' buffers=''
fail() { echo "logcat: $*" >&2; exit 1; }
needs() { [ "$2" -gt 1 ] || fail "option requires an argument -- $1"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--clear) clear=1 ;;
    -d) dump=1 ;;
    -g|--buffer-size) get=1 ;;
    -G) needs G $#; set=$2; shift ;;
    -G?*) set=${1#-G} ;;
    --buffer-size=*) set=${1#*=} ;;
    -b) needs b $#; buffers="$buffers $2"; shift ;;
    -b?*) buffers="$buffers ${1#-b}" ;;
    -t) needs t $#; count=$2; dump=1; shift ;;
    -T) needs T $#; count=$2; shift ;;
    -v|-f|-r|-n|-m|-e|-P|--pid) shift ;;  # formats, files and filters change nothing here
  esac
  shift
done
chosen=''
for name in $(echo "${buffers:-default}" | tr , ' '); do
  case "$name" in
    all) chosen="$chosen main radio events system crash stats security kernel" ;;
    default) chosen="$chosen main system crash" ;;
    main|radio|events|system|crash|stats|security|kernel) chosen="$chosen $name" ;;
    *) fail "Unknown buffer '$name' listed for -b." ;;
  esac
done
list=''  # in the buffers' id order, each once, as logcat reports them
for name in main radio events system crash stats security kernel; do
  case " $chosen " in *" $name "*) list="$list $name" ;; esac
done
if [ -n "$set" ]; then
  number=${set%[kKmMgG]}
  case "$number" in ''|*[!0-9]*) fail "Invalid -G size: '$set'" ;; esac
  [ ${#number} -le 12 ] || fail "Invalid -G size: '$set'"
  case "${set#"$number"}" in
    '') unit=1 ;; [kK]) unit=1024 ;; [mM]) unit=1048576 ;; *) unit=1073741824 ;;
  esac
  bytes=$((number * unit))
  # logd takes 64 KiB to 256 MiB, and refuses every buffer outside that
  if [ $bytes -lt 65536 ] || [ $bytes -gt 268435456 ]; then
    fail "Failed to set the log size of '$(echo $list | tr ' ' ,)'."
  fi
fi
case " $list " in *" main "*) ;; *) log=/dev/null ;; esac
# 1536 KiB is "1 MiB", as logcat's format_of_size divides while the value is 1024 or more
human() {
  value=$1 prefix=''
  for next in Ki Mi Gi; do
    [ "$value" -ge 1024 ] || break
    value=$((value / 1024)) prefix=$next
  done
  echo "$value ${prefix}B"
}
if [ $clear -eq 1 ] && [ "$log" != /dev/null ]; then : > "$log"; fi
if [ -n "$set" ]; then
  mkdir -p "$sizes"
  for name in $list; do echo "$bytes" > "$sizes/$name"; done
fi
if [ $get -eq 1 ]; then
  for name in $list; do
    size=$(cat "$sizes/$name" 2>/dev/null || echo 262144)
    used=0
    if [ "$name" = main ]; then used=$(wc -c < "$log"); fi
    if [ "$used" -gt "$size" ]; then used=$size; fi
    echo "$name: ring buffer is $(human "$size") ($(human "$used") consumed)," \
      "max entry is 5120 B, max payload is 4068 B"
  done
fi
if [ $clear -eq 1 ] || [ -n "$set" ] || [ $get -eq 1 ]; then exit 0; fi
# -t / -T N: the last N lines; -t TIME ('MM-DD hh:mm:ss.mmm', the year optional): the lines
# from then on, compared as text with each line's threadtime stamp
case "$count" in
  [0-9][0-9][0-9][0-9]-*) count=${count#?????} ;;
esac
if [ $dump -eq 1 ]; then
  case "$count" in
    '') exec cat "$log" ;;
    *[!0-9]*) exec awk -v since="$count" 'substr($0, 1, length(since)) >= since' "$log" ;;
    *) exec tail -n "$count" "$log" ;;
  esac
fi
case "$count" in
  ''|*[!0-9]*) exec tail -n +1 -f "$log" ;;
  *) exec tail -n "$count" -f "$log" ;;
esac
"""
