package legacy

// refusalLogsPerSecond bounds log lines about refused connections and
// commands: a local process or a web page can open connections as fast
// as it likes, and our own log must not fill the disk for it. The count of
// lines left out is reported with the next one let through.
const refusalLogsPerSecond = 20
