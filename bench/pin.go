package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// pin puts this process (mock and load generator) on CPU 1 and returns the
// CPU list for arm processes ("0"), so an arm never competes with the load
// it is measured under. It needs Linux, taskset and two cores; otherwise the
// run goes on unpinned and says so.
func pin() (description, armCPU string) {
	if runtime.GOOS != "linux" {
		return "unpinned (not Linux)", ""
	}
	if runtime.NumCPU() < 2 {
		return "unpinned (one core)", ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "unpinned (no taskset)", ""
	}
	// -a pins every thread that exists now; threads the runtime starts later
	// inherit the mask from the thread that creates them.
	out, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("unpinned (taskset: %v: %s)", err, strings.TrimSpace(string(out))), ""
	}
	// One core for the whole process: more Ps would only time-slice it.
	runtime.GOMAXPROCS(1)
	return "taskset: gateway/proxy on CPU 0, mock + load generator on CPU 1", "0"
}

// host describes the machine for the report.
func host(pinning string, loadStart float64) hostInfo {
	return hostInfo{
		Cores: runtime.NumCPU(), CPU: cpuModel(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(), Pinning: pinning, LoadStart: loadStart, LoadEnd: loadAvg(),
	}
}

// loadAvg is the 1-minute load average, 0 where /proc is missing.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
