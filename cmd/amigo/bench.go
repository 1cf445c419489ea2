package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/fep"
	"github.com/amigo-metering/amigo/internal/loadtest"
	"github.com/amigo-metering/amigo/internal/pki"
	"github.com/amigo-metering/amigo/internal/postgres"
)

func init() {
	register(command{name: "bench", summary: "load-test a station with virtual collectors / 虚拟采集器压测主站", run: runBench})
}

// benchStationCommand makes the command that runs the embedded station as
// a child process (`amigo bench --station-child ...`); tests replace it.
var benchStationCommand = func(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{"bench"}, args...)...)
}

// BenchConfig is one `amigo bench` run.
type BenchConfig struct {
	loadtest.Config
	Store       string // sqlite:PATH or postgres://...; "" = a fresh temporary SQLite file
	StationAPI  string // an external station's API (http://host:port); "" = embedded
	StationTLS  string // the external station's collector listener
	StationGPRS string // the external station's GPRS listener
	// Stations is how many embedded stations share the store (PostgreSQL
	// only above 1), each its own node with its own ports.
	Stations int
	// Workers is the embedded station's pool (its "workers"; 0 = default).
	Workers    int
	JSON       bool
	CPUProfile string
	// TracePhase, with CPUProfile, also writes Go's execution trace of
	// that phase, each profile's file with ".trace" added.
	TracePhase string
	Verbose    bool
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c BenchConfig
	fs.IntVar(&c.Meters, "meters", 1000, "meters in all, GPRS meters included / 电表总数（含GPRS表）")
	fs.IntVar(&c.Collectors, "collectors", 10, "virtual collectors / 虚拟采集器数")
	fs.IntVar(&c.GPRS, "gprs", 0, "direct GPRS meters among the meters / 其中的GPRS直连电表数")
	fs.StringVar(&c.Store, "store", "", "store: sqlite:PATH or postgres://... (default: a fresh temporary SQLite file) / 存储")
	fs.StringVar(&c.StationAPI, "station", "", "an external station's API, http://HOST:PORT (default: start one) / 外部主站接口地址")
	fs.StringVar(&c.StationTLS, "station-tls", "", "the external station's collector listener HOST:PORT / 外部主站采集器端口")
	fs.IntVar(&c.Workers, "workers", 0, "the embedded station's worker pool (its \"workers\"; 0 = the default) / 主站工作池大小（0为默认）")
	fs.IntVar(&c.Stations, "stations", 1, "embedded stations sharing the store, each its own node; above 1 needs --store postgres://... / 共用存储的主站数（大于1时需 PostgreSQL）")
	fs.StringVar(&c.StationGPRS, "station-gprs", "", "the external station's GPRS listener HOST:PORT / 外部主站GPRS端口")
	fs.StringVar(&c.CADir, "ca", "", "CA directory that signs collector certificates (external station) / 签发采集器证书的CA目录")
	fs.StringVar(&c.Token, "token", "", "admin API token (external station) / 管理员接口令牌")
	fs.Float64Var(&c.CommandsPerS, "commands-per-s", 10, "disconnect commands per second / 每秒命令数")
	fs.IntVar(&c.Commands, "commands", 100, "disconnect commands in all / 命令总数")
	fs.Float64Var(&c.Speed, "speed", 60, "virtual seconds per real second / 时间倍速")
	fs.DurationVar(&c.PhaseTimeout, "phase-timeout", 10*time.Minute, "each phase gives up after this long / 每阶段时限")
	fs.IntVar(&c.RawRows, "raw-rows", 100_000, "readings written to measure the store's raw rate / 存储测速写入行数")
	fs.DurationVar(&c.StopGrace, "stop-grace", 10*time.Second, "how long a restart waits for the station to end before killing it / 重启时等待主站退出的时限")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object instead of a table / 输出JSON")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write CPU profiles, one per phase: the station's to FILE.PHASE (with --stations N: FILE.PHASE.node1..N), the load generator's to FILE.PHASE.loadgen / 按阶段写CPU剖析文件")
	fs.StringVar(&c.TracePhase, "trace", "", "with --cpuprofile: also write Go's execution trace of this phase (e.g. ingest) beside each of its profiles, FILE.PHASE….trace (go tool trace) / 同时写该阶段的执行跟踪")
	fs.BoolVar(&c.Verbose, "v", false, "log to stderr / 输出日志")
	child := fs.String("station-child", "", "internal: run the embedded station from this configuration / 内部使用")
	clockLine := fs.String("clock", "", "internal: the station's virtual clock / 内部使用")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: amigo bench [flags]   用法: amigo bench [参数]")
		fmt.Fprintln(fs.Output(), "Starts a station (or uses --station) and measures it under N meters behind M virtual collectors.")
		fmt.Fprintln(fs.Output(), "启动主站（或使用 --station）并以 M 个虚拟采集器、N 块电表测量其性能。")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "amigo bench: unexpected argument %q / 多余的参数\n", fs.Arg(0))
		return 2
	}
	if *child != "" {
		if err := benchStationChild(ctx, *child, *clockLine, c.CPUProfile, c.TracePhase, stdout, stderr); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "amigo bench station: %v\n", err)
			return 1
		}
		return 0
	}
	c.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			c.Live = true
		}
	}
	if c.Verbose {
		c.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := benchMain(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "amigo bench: %v\n", err)
		if res == nil {
			return 1
		}
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		res.WriteTable(stdout)
	}
	if err != nil {
		return 1
	}
	return 0
}

// benchMain prepares the store, the CA and the station and runs the bench.
func benchMain(ctx context.Context, c BenchConfig) (*loadtest.Result, error) {
	// Each connection is a file in the load generator and one in the
	// station; the rest (store, listeners, API) fits in fileReserve.
	const fileReserve = 256
	if limit, ok := openFileLimit(); ok && uint64(c.Collectors+c.GPRS+fileReserve) > limit {
		return nil, fmt.Errorf("%d connections need about %d open files, the limit is %d (ulimit -n) / 连接数超过打开文件数上限",
			c.Collectors+c.GPRS, c.Collectors+c.GPRS+fileReserve, limit)
	}
	work, err := os.MkdirTemp("", "amigo-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	c.WorkDir = work
	external, storeGiven := c.StationAPI != "", c.Store != ""
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(work, "amigo.db")
	}
	switch {
	case strings.HasPrefix(c.Store, "sqlite:"):
		c.StoreKind, c.StorePath = "sqlite", strings.TrimPrefix(c.Store, "sqlite:")
		c.StoreName = "sqlite"
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		c.StoreKind, c.StoreName = "postgres", "postgres"
	default:
		return nil, fmt.Errorf("--store %q: want sqlite:PATH or postgres://... / 存储配置错误", c.Store)
	}
	switch {
	case c.Stations < 1 || c.Stations > 64:
		return nil, fmt.Errorf("--stations %d: want 1..64 / 主站数应为1..64", c.Stations)
	case c.Stations > 1 && external:
		return nil, errors.New("--stations cannot be used with --station (an external station) / --stations 不能与外部主站 --station 同用")
	case c.Stations > 1 && c.StoreKind != "postgres":
		return nil, fmt.Errorf("--stations %d needs --store postgres://...: several stations share one store only on PostgreSQL / 多个主站只能共用 PostgreSQL 存储，请指定 --store postgres://...", c.Stations)
	}
	if !external || storeGiven {
		spec := c.Store
		c.OpenStore = func(ctx context.Context) (amigo.Store, error) { return openStore(ctx, spec) }
		c.Scratch = func(ctx context.Context) (amigo.Store, func(), error) { return scratchStore(ctx, spec, work) }
	}
	if external {
		if c.StationTLS == "" || c.CADir == "" || c.Token == "" || (c.GPRS > 0 && c.StationGPRS == "") {
			return nil, errors.New("--station needs --station-tls, --ca, --token (and --station-gprs with --gprs) / 外部主站需要 --station-tls、--ca、--token")
		}
		c.External = true
		base := c.StationAPI
		c.Archiver = func(token string) loadtest.Archiver { return &loadtest.APIArchiver{Base: base, Token: token} }
		c.Config.Station = externalStation{loadtest.Addrs{API: base, TLS: c.StationTLS, GPRS: c.StationGPRS}}
	} else {
		// The embedded station collects real-time data at the interval the
		// ingest phase moves the clock by.
		if c.RealtimeEvery <= 0 {
			c.RealtimeEvery = loadtest.DefaultRealtimeEvery
		}
		caDir := filepath.Join(work, "ca")
		if err := pki.InitCA(caDir, "amigo bench CA"); err != nil {
			return nil, err
		}
		if err := pki.IssueServer(caDir, caDir, "127.0.0.1", "localhost"); err != nil {
			return nil, err
		}
		c.CADir = caDir
		b := make([]byte, 10)
		rand.Read(b)
		c.Username, c.Password = "admin", strings.ToLower(base32.StdEncoding.EncodeToString(b))[:12]
		cfg := StationConfig{Store: c.Store, HTTP: "127.0.0.1:0", CollectorsTLS: "127.0.0.1:0", GPRS: "127.0.0.1:0",
			CAFile: filepath.Join(caDir, pki.CACert), CertFile: filepath.Join(caDir, "station.crt"), KeyFile: filepath.Join(caDir, "station.key"),
			Heartbeat: "60s", DailyAfter: "1s", RealtimeEvery: c.RealtimeEvery.String(), AdminPassword: c.Password, SecretFile: filepath.Join(work, "api.secret"),
			// Every virtual collector and GPRS meter connects from
			// 127.0.0.1: above the default per-source cap the station
			// would let only 64 in.
			MaxConnsPerSource: max(fep.DefaultMaxConnsPerSource, 2*(c.Collectors+c.GPRS)),
			MaxConns:          max(fep.DefaultMaxConns, c.Collectors+c.GPRS+fileReserve), Workers: c.Workers}
		if c.Stations == 1 {
			c.Config.Station = &childStation{dir: work, profile: c.CPUProfile, trace: c.TracePhase, cfg: cfg}
		} else {
			// Several nodes on the one database: each its own name, ports,
			// directory (configuration, log) and profile; the same CA,
			// certificate, admin password and token key.
			g := &loadtest.Group{}
			for i := range c.Stations {
				dir := filepath.Join(work, fmt.Sprintf("node%d", i+1))
				if err := os.Mkdir(dir, 0o700); err != nil {
					return nil, err
				}
				ncfg := cfg
				ncfg.Node = fmt.Sprintf("bench-node%d", i+1)
				g.Members = append(g.Members, &childStation{dir: dir, profile: c.CPUProfile, trace: c.TracePhase, suffix: fmt.Sprintf(".node%d", i+1), cfg: ncfg})
			}
			c.Config.Station = g
		}
	}
	if c.CPUProfile != "" {
		// The load generator's own profile, phase by phase; the run goes
		// on without the profile of a phase that cannot be written.
		prof := phaseProfile{trace: c.TracePhase}
		defer prof.stop()
		c.Config.Phase = func(name string) {
			if err := prof.switchTo(c.CPUProfile + "." + name + ".loadgen"); err != nil {
				slog.Warn("load generator profile", "phase", name, "err", err)
			}
		}
	}
	return loadtest.Run(ctx, c.Config)
}

// phaseProfile is a process's CPU profile written phase by phase: each
// switch ends the file of the phase before (a complete profile) and
// starts the next.
type phaseProfile struct {
	mu    sync.Mutex
	f     *os.File
	ended bool // stop was called: no profile starts again
	// trace names the phase whose execution trace is written too, to the
	// profile's path plus ".trace" (a path names its phase as one of its
	// dot-separated parts: FILE.PHASE[.nodeN|.loadgen]).
	trace string
	tf    *os.File
}

// switchTo ends the current profile and starts one into path ("" = none).
func (p *phaseProfile) switchTo(path string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stopLocked(); err != nil {
		return err
	}
	if path == "" || p.ended {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile %s: %w", path, err)
	}
	p.f = f
	if p.trace != "" && slices.Contains(strings.Split(filepath.Base(path), "."), p.trace) {
		tf, err := os.Create(path + ".trace")
		if err != nil {
			return fmt.Errorf("execution trace: %w", err)
		}
		if err := trace.Start(tf); err != nil {
			tf.Close()
			return fmt.Errorf("execution trace %s: %w", path+".trace", err)
		}
		p.tf = tf
	}
	return nil
}

// stop ends the current profile, if any, and any later switch.
func (p *phaseProfile) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	return p.stopLocked()
}

func (p *phaseProfile) stopLocked() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	if p.tf != nil {
		trace.Stop()
		if err := p.tf.Close(); err != nil {
			return fmt.Errorf("execution trace: %w", err)
		}
		p.tf = nil
	}
	err := p.f.Close()
	p.f = nil
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	return nil
}

// childStation runs the embedded station as a child process, `amigo bench
// --station-child`, so that its memory and CPU are its own; it is told the
// virtual clock, and with a profile each phase, on its standard input.
type childStation struct {
	dir string
	// profile, when set, is the base of its CPU profiles: the phase P's is
	// profile.P+suffix.
	profile, suffix string
	trace           string // the phase whose execution trace is written too
	cfg             StationConfig
	phase           string // the phase that runs, the one a start profiles

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ended chan error
	// profiled carries the paths of the profiles the process says it
	// started; gone is closed when it has ended.
	profiled chan string
	gone     chan struct{}
	lives    int
	cpu      time.Duration // of ended processes
}

// Start starts the station; a restart reuses the first one's ports.
func (s *childStation) Start(ctx context.Context, seg loadtest.Segment) (loadtest.Addrs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return loadtest.Addrs{}, errors.New("the station is already running / 主站已在运行")
	}
	cfgPath := filepath.Join(s.dir, "station.json")
	b, err := json.Marshal(s.cfg)
	if err != nil {
		return loadtest.Addrs{}, err
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return loadtest.Addrs{}, err
	}
	args := []string{"--station-child", cfgPath, "--clock", seg.String()}
	if p := s.profilePath(); p != "" {
		args = append(args, "--cpuprofile", p)
		if s.trace != "" {
			args = append(args, "--trace", s.trace)
		}
	}
	cmd := benchStationCommand(args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "station.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return loadtest.Addrs{}, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return loadtest.Addrs{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return loadtest.Addrs{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadtest.Addrs{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	ended := make(chan error, 1)
	profiled, gone := make(chan string, 4), make(chan struct{})
	ready := make(chan benchReady, 1)
	go func() {
		// The first line that is a benchReady says it listens; anything
		// else it prints is passed over.
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			var rd benchReady
			if json.Unmarshal(line, &rd) == nil && rd.TLS != "" {
				ready <- rd
				break
			}
			if err != nil {
				break
			}
		}
		// Then only its acknowledgements of profiles count.
		for {
			line, err := r.ReadString('\n')
			if path, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), benchProfiledLine); ok {
				select {
				case profiled <- path:
				default: // nobody waits for it any more
				}
			}
			if err != nil {
				break
			}
		}
		err := cmd.Wait()
		close(gone)
		ended <- err
	}()
	var rd benchReady
	select {
	case rd = <-ready:
	case err := <-ended:
		return loadtest.Addrs{}, fmt.Errorf("the station ended before it listened (%v); its log: %s / 主站启动失败", err, tail(filepath.Join(s.dir, "station.log")))
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		return loadtest.Addrs{}, errors.New("the station did not listen within 2 minutes / 主站2分钟内未就绪")
	case <-ctx.Done():
		cmd.Process.Kill()
		return loadtest.Addrs{}, ctx.Err()
	}
	s.cmd, s.stdin, s.ended, s.profiled, s.gone = cmd, stdin, ended, profiled, gone
	s.lives++
	s.cfg.HTTP, s.cfg.CollectorsTLS, s.cfg.GPRS = rd.HTTP, rd.TLS, rd.GPRS
	return loadtest.Addrs{API: "http://" + rd.HTTP, TLS: rd.TLS, GPRS: rd.GPRS}, nil
}

// SetClock tells the station its new clock segment.
func (s *childStation) SetClock(seg loadtest.Segment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("the station is not running / 主站未运行")
	}
	_, err := io.WriteString(s.stdin, seg.String()+"\n")
	return err
}

// profilePath is the file of the current phase's profile ("" = none).
func (s *childStation) profilePath() string {
	if s.profile == "" {
		return ""
	}
	phase := s.phase
	if phase == "" {
		phase = loadtest.PhaseStart
	}
	return s.profile + "." + phase + s.suffix
}

// Phase tells a running station to end its profile and start the phase's;
// one that does not run starts the phase's profile when it starts.
func (s *childStation) Phase(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = name
	if s.cmd == nil || s.profile == "" {
		return nil
	}
	path := s.profilePath()
	if _, err := io.WriteString(s.stdin, benchProfileLine+path+"\n"); err != nil {
		return err
	}
	// Wait until it has switched, so that the phase's profile begins
	// before the phase does (and exists even if the phase is its end).
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case p := <-s.profiled:
			if p == path {
				return nil
			}
		case <-s.gone:
			return errors.New("the station ended / 主站已退出")
		case <-timeout.C:
			return fmt.Errorf("the station did not start the profile %s within 10 s / 主站未开始剖析", path)
		}
	}
}

// benchProfileLine begins a line to the child station that ends its CPU
// profile and starts one into the file named by the rest of the line; the
// station answers with benchProfiledLine and the same file once it has.
const (
	benchProfileLine  = "profile "
	benchProfiledLine = "profiling "
)

// Stop asks the station to end (SIGTERM) and kills it when ctx ends first.
func (s *childStation) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	began := time.Now()
	var err error
	select {
	case err = <-s.ended:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-s.ended
		err = fmt.Errorf("%w: still running %.1f s after SIGTERM / 主站未在时限内退出", loadtest.ErrKilled, time.Since(began).Seconds())
	}
	s.stdin.Close()
	if cmd.ProcessState != nil {
		s.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return err
}

func (s *childStation) Proc() (loadtest.ProcStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return loadtest.ProcStats{}, false
	}
	st, err := loadtest.ReadProc(s.cmd.Process.Pid)
	return st, err == nil
}

func (s *childStation) CPU() time.Duration {
	st, ok := s.Proc()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		return s.cpu + st.CPU
	}
	return s.cpu
}

// tail returns the end of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// benchReady is the line the child station prints once it listens.
type benchReady struct {
	HTTP string `json:"http"`
	TLS  string `json:"tls"`
	GPRS string `json:"gprs"`
}

// benchStationChild is the embedded station's process: stationMain on a
// virtual clock that the bench moves with lines on standard input. It ends
// when ctx ends (SIGTERM) or its standard input closes (the bench is gone).
func benchStationChild(ctx context.Context, cfgPath, clockLine, profile, tracePhase string, stdout, stderr io.Writer) error {
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg StationConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	seg, err := loadtest.ParseSegment(clockLine)
	if err != nil {
		return err
	}
	clock := loadtest.NewClock(seg)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prof := phaseProfile{trace: tracePhase}
	if profile != "" {
		if err := prof.switchTo(profile); err != nil {
			return err
		}
		// The profile is complete as soon as the station is asked to end:
		// the bench kills a station that takes too long to.
		stopped := make(chan struct{})
		go func() {
			<-ctx.Done()
			prof.stop()
			close(stopped)
		}()
		defer func() { cancel(); <-stopped }()
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			line := sc.Text()
			if path, ok := strings.CutPrefix(line, benchProfileLine); ok {
				if profile == "" {
					continue
				}
				if err := prof.switchTo(path); err != nil {
					fmt.Fprintf(stderr, "amigo bench station: %v\n", err)
					continue
				}
				fmt.Fprintf(stdout, "%s%s\n", benchProfiledLine, path)
				continue
			}
			if seg, err := loadtest.ParseSegment(line); err == nil {
				clock.Set(seg)
			}
		}
		cancel()
	}()
	cfg.clock = clock
	cfg.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	setProcs(cfg.ProcsPerCPU, cfg.log)
	cfg.ready = func(a stationAddrs) {
		rd := benchReady{HTTP: a.API.String(), TLS: a.CollectorsTLS.String()}
		if a.GPRS != nil {
			rd.GPRS = a.GPRS.String()
		}
		line, _ := json.Marshal(rd)
		fmt.Fprintf(stdout, "%s\n", line)
	}
	return stationMain(ctx, cfg)
}

// externalStation is a station the bench does not run.
type externalStation struct{ addrs loadtest.Addrs }

func (e externalStation) Start(context.Context, loadtest.Segment) (loadtest.Addrs, error) {
	return e.addrs, nil
}
func (externalStation) SetClock(loadtest.Segment) error  { return loadtest.ErrNoClock }
func (externalStation) Stop(context.Context) error       { return nil }
func (externalStation) Proc() (loadtest.ProcStats, bool) { return loadtest.ProcStats{}, false }
func (externalStation) CPU() time.Duration               { return 0 }

// scratchStore opens an empty store of the same kind as spec: a SQLite file
// in dir, or a new database on the same PostgreSQL server, dropped after.
func scratchStore(ctx context.Context, spec, dir string) (amigo.Store, func(), error) {
	if strings.HasPrefix(spec, "sqlite:") {
		path := filepath.Join(dir, "raw.db")
		st, err := openStore(ctx, "sqlite:"+path)
		if err != nil {
			return nil, nil, err
		}
		return st, func() {
			st.Close()
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
		}, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("--store: %w", err)
	}
	admin, err := sql.Open("pgx", spec)
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "amigo_bench_raw_" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create scratch database: %w", err)
	}
	drop := func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	u.Path = "/" + name
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	return st, func() { st.Close(); drop() }, nil
}
