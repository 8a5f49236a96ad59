-- Real-DAW check of the MAM Session VST3 plugin in Ardour 7, run headless by
-- ardour7-lua (normally through check_vst3.sh, which sets up JACK, the VST3
-- search path, the scan cache and MAM_SESSION=sidechain2.json).
--
-- Usage: ardour7-lua check_vst3.lua SESSION_DIR
--   SESSION_DIR must not exist yet; Ardour creates the session there.
--
-- What it builds:
--   "Tone" (stereo audio track, SinGen 1 kHz at -18 dBFS, output detached
--   from the master) --> feeds plugin inputs as each phase below says
--   "MAM" (stereo audio bus) with the MAM Session VST3 plugin and an Ardour
--   sidechain input on it, output --> master
--
-- Phases (the transport rolls; the master's peak is held over each phase):
--   1. tone -> main input and Sidechain 1, nothing on Sidechain 2: master silent
--   2. tone -> Sidechain 2 only: master at the tone's level
--   3. as 2, but the bus takes the plugin's "Bus 1" stem (slot 1 = the sc2 bus
--      of sidechain2.json) instead of the main output: master at the tone's level
--   4. as 3 with the "Bus 2" stem (no bus in slot 2): master silent
-- and it lists the plugin's audio pins (want: 2+2+2 inputs, 2+16 outputs).
--
-- Every line the driver reads starts with "CHECK"; the last is
-- "CHECK RESULT: PASS" or "CHECK RESULT: FAIL (n failed)".

local session_dir = arg and arg[1]
if not session_dir or session_dir == "" then
	print ("CHECK usage: ardour7-lua check_vst3.lua SESSION_DIR")
	print ("CHECK RESULT: FAIL (no session directory given)")
	return
end

local TONE_DB      = -18   -- SinGen gain
local TONE_HZ      = 1000
local SILENT_DB    = -90   -- a phase counts as silent below this peak
local TOLERANCE_DB = 1.0   -- an audible phase must be this close to the tone
local SETTLE_S     = 1.0   -- after a routing change, before the peak is held
local MEASURE_S    = 2.0   -- how long the peak is held per phase

local failures = 0
local function check (ok, what)
	print (string.format ("CHECK %s: %s", ok and "ok  " or "FAIL", what))
	if not ok then failures = failures + 1 end
	return ok
end

local function finish ()
	if failures == 0 then
		print ("CHECK RESULT: PASS")
	else
		print (string.format ("CHECK RESULT: FAIL (%d failed)", failures))
	end
end

-- JACK, whose server the driver makes sure is running. MAM_ARDOUR_BACKEND=dummy
-- leaves the choice to ardour7-lua, which then runs Ardour's own dummy
-- backend (no JACK at all).
if os.getenv ("MAM_ARDOUR_BACKEND") ~= "dummy" and not AudioEngine:set_backend ("JACK", "", "") then
	check (false, "Ardour's JACK backend could not be selected")
	finish ()
	return
end

local t0 = os.time ()
local s = create_session (session_dir, "mam_check", 48000)
if not s then
	check (false, "create_session (" .. session_dir .. ") failed (is jackd running at 48 kHz?)")
	finish ()
	return
end
print (string.format ("CHECK info: session %s, %d Hz, %d-sample blocks, backend %s",
	session_dir, Session:sample_rate (), Session:get_block_size (), AudioEngine:current_backend_name ()))

local function fmt_db (db)
	if db < -200 then return "-inf dBFS" end
	return string.format ("%.2f dBFS", db)
end

-- A route's held peak (louder channel, post-fader meter) over MEASURE_S
-- seconds, after SETTLE_S seconds for a routing change to take effect.
local function measure (route)
	local meter = route:peak_meter ()
	sleep (SETTLE_S)
	meter:reset_max ()
	sleep (MEASURE_S)
	local l = meter:meter_level (0, ARDOUR.MeterType.MeterMaxPeak)
	local r = meter:meter_level (1, ARDOUR.MeterType.MeterMaxPeak)
	return math.max (l, r), l, r
end

local function run ()
	----------------------------------------------------------------- plugin
	local info = ARDOUR.LuaAPI.new_plugin_info ("MAM Session", ARDOUR.PluginType.VST3)
	if info:isnil () then
		check (false, "Ardour has no VST3 plugin named 'MAM Session' (VST3_PATH and the scan cache: see check_vst3.sh)")
		return
	end
	print (string.format ("CHECK info: plugin '%s' by %s at %s", info.name, info.creator, info.path))
	print (string.format ("CHECK info: scanned pins: %d audio in, %d audio out, %d MIDI in, %d MIDI out",
		info.n_inputs:n_audio (), info.n_outputs:n_audio (), info.n_inputs:n_midi (), info.n_outputs:n_midi ()))

	------------------------------------------------------------------ routes
	local order = ARDOUR.PresentationInfo.max_order
	local tracks = Session:new_audio_track (2, 2, nil, 1, "Tone", order, ARDOUR.TrackMode.Normal, false)
	local buses = Session:new_audio_route (2, 2, nil, 1, "MAM", ARDOUR.PresentationInfo.Flag.AudioBus, order)
	if tracks:size () ~= 1 or buses:size () ~= 1 then
		check (false, "could not add the Tone track and the MAM bus")
		return
	end
	local tone = tracks:front ()
	local bus = buses:front ()
	local master = Session:master_out ()

	local gen = ARDOUR.LuaAPI.new_luaproc (Session, "SinGen")
	if gen:isnil () or tone:add_processor_by_index (gen, 0, nil, true) ~= 0 then
		check (false, "could not add Ardour's SinGen generator to the Tone track")
		return
	end
	ARDOUR.LuaAPI.set_processor_param (gen, 0, TONE_HZ)
	ARDOUR.LuaAPI.set_processor_param (gen, 1, TONE_DB)

	-- Strict I/O, as Ardour's add-bus dialog sets it by default (a bus made
	-- from Lua starts without it): the bus stays stereo and carries the
	-- plugin outputs its output map picks, the main pair unless told otherwise.
	bus:set_strict_io (true)
	local proc = ARDOUR.LuaAPI.new_plugin (Session, "MAM Session", ARDOUR.PluginType.VST3, "")
	if proc:isnil () then
		check (false, "could not instantiate MAM Session (VST3)")
		return
	end
	if bus:add_processor_by_index (proc, 0, nil, true) ~= 0 then
		check (false, "could not add MAM Session (VST3) to the MAM bus")
		return
	end
	local pi = proc:to_plugininsert ()
	local plugin = pi:plugin (0)
	local audio = ARDOUR.DataType ("audio")

	-------------------------------------------------------------------- pins
	local n_in = pi:natural_input_streams ():n_audio ()
	local n_out = pi:natural_output_streams ():n_audio ()
	local n_sc_pins = 0
	-- Ardour names a pin "<bus name> <channel>" and keeps the VST3 bus name
	-- as its group; pins of aux input buses are its sidechain pins.
	local in_groups, out_groups = {}, {}
	for i = 0, n_in - 1 do
		local d = plugin:describe_io_port (audio, true, i)
		if d.is_sidechain then n_sc_pins = n_sc_pins + 1 end
		in_groups[#in_groups + 1] = d.group_name
		print (string.format ("CHECK pin: audio in  %2d  %-15s group '%s'%s", i + 1, d.name, d.group_name,
			d.is_sidechain and " (sidechain)" or ""))
	end
	for i = 0, n_out - 1 do
		local d = plugin:describe_io_port (audio, false, i)
		out_groups[#out_groups + 1] = d.group_name
		print (string.format ("CHECK pin: audio out %2d  %-15s group '%s'", i + 1, d.name, d.group_name))
	end
	local n_midi_in = pi:natural_input_streams ():n_midi ()
	local n_midi_out = pi:natural_output_streams ():n_midi ()
	local function names (groups)
		local seen, list = {}, {}
		for _, g in ipairs (groups) do
			if not seen[g] then seen[g] = true; list[#list + 1] = g end
		end
		return table.concat (list, ", ")
	end
	local want_in = "Input, Sidechain 1, Sidechain 2"
	local want_out = "Output, Bus 1, Bus 2, Bus 3, Bus 4, Bus 5, Bus 6, Bus 7, Bus 8"
	check (n_in == 6 and n_sc_pins == 4 and names (in_groups) == want_in,
		string.format ("audio inputs: %d pins (%d sidechain) in %s; want 6 (4) in %s", n_in, n_sc_pins, names (in_groups), want_in))
	check (n_out == 18 and names (out_groups) == want_out,
		string.format ("audio outputs: %d pins in %s; want 18 in %s", n_out, names (out_groups), want_out))
	check (n_midi_in == 1 and n_midi_out == 1,
		string.format ("MIDI pins: %d in, %d out; want 1 and 1", n_midi_in, n_midi_out))
	print (string.format ("CHECK info: insert configured %d in / %d out on the stereo bus (strict I/O), latency %d samples",
		proc:input_streams ():n_audio (), proc:output_streams ():n_audio (), pi:signal_latency ()))

	----------------------------------------------------------- sidechain IO
	if not bus:add_sidechain (proc) or not pi:has_sidechain () then
		check (false, "Route:add_sidechain on the MAM Session insert failed")
		return
	end
	local sc = pi:sidechain_input ()
	local n_sc_ports = sc:n_ports ():n_audio ()
	print (string.format ("CHECK info: sidechain input '%s' has %d audio ports", sc:name (), n_sc_ports))
	local map = pi:input_map (0)
	for i = 0, n_in - 1 do
		local b = map:get (audio, i)
		print (string.format ("CHECK map: plugin in %d <- %s", i + 1,
			b == ARDOUR.ChanMapping.Invalid and "nothing"
			or (b < 2 and string.format ("bus channel %d", b + 1)
			or string.format ("sidechain port %d", b - 1))))
	end

	local out = tone:output ()
	local function feed (ports)
		out:disconnect_all (nil)
		for c = 0, 1 do
			for _, p in ipairs (ports) do
				local port = p[c + 1]
				if port then out:connect (out:audio (c), port, nil) end
			end
		end
	end
	local function port_pair (io, first)
		if io:n_ports ():n_audio () < first + 2 then return nil end
		return { io:audio (first):name (), io:audio (first + 1):name () }
	end
	local main_in = port_pair (bus:input (), 0)
	local sc1 = port_pair (sc, 0)
	local sc2 = port_pair (sc, 2)

	----------------------------------------------------------------- phases
	Session:request_roll (ARDOUR.TransportRequestSource.TRS_UI)
	sleep (0.5)
	check (Session:transport_rolling (), "transport rolling")

	-- the tone itself, measured on its own track
	feed ({})
	local tone_db = measure (tone)
	print (string.format ("CHECK level: tone (Tone track meter)                %s", fmt_db (tone_db)))
	check (math.abs (tone_db - TONE_DB) < TOLERANCE_DB, "the generator plays at " .. TONE_DB .. " dBFS")

	local function expect_silent (label, db)
		check (db < SILENT_DB, string.format ("%s: master %s, want below %d dBFS", label, fmt_db (db), SILENT_DB))
	end
	local function expect_tone (label, db)
		check (math.abs (db - tone_db) < TOLERANCE_DB,
			string.format ("%s: master %s, want the tone's %s within %.1f dB", label, fmt_db (db), fmt_db (tone_db), TOLERANCE_DB))
	end

	feed ({ main_in, sc1 })
	local db = measure (master)
	print (string.format ("CHECK level: master, tone -> Input + Sidechain 1    %s", fmt_db (db)))
	expect_silent ("Sidechain 2 not fed (main input and Sidechain 1 fed)", db)

	if not sc2 then
		check (false, string.format ("no Sidechain 2 ports: the sidechain input has %d ports, want 4", n_sc_ports))
	else
		feed ({ sc2 })
		db = measure (master)
		print (string.format ("CHECK level: master, tone -> Sidechain 2            %s", fmt_db (db)))
		expect_tone ("Sidechain 2 fed", db)
	end

	-- stems: the bus takes plugin output pins 3/4 (Bus 1) then 5/6 (Bus 2)
	-- instead of the main output
	local function take_output (first_pin)
		local m = ARDOUR.ChanMapping ()
		m:set (audio, first_pin, 0)
		m:set (audio, first_pin + 1, 1)
		pi:set_output_map (0, m)
	end
	if sc2 and n_out >= 6 then
		take_output (2)
		db = measure (master)
		print (string.format ("CHECK level: master, Sidechain 2, pins 3/4 (%s)   %s",
			plugin:describe_io_port (audio, false, 2).group_name, fmt_db (db)))
		expect_tone ("stem Bus 1 (the sc2 bus in slot 1)", db)
		take_output (4)
		db = measure (master)
		print (string.format ("CHECK level: master, Sidechain 2, pins 5/6 (%s)   %s",
			plugin:describe_io_port (audio, false, 4).group_name, fmt_db (db)))
		expect_silent ("stem Bus 2 (no bus in slot 2)", db)
		take_output (0)
	else
		check (false, "no stem outputs to measure")
	end

	Session:request_stop (false, false, ARDOUR.TransportRequestSource.TRS_UI)
	sleep (0.3)
end

local ok, err = pcall (run)
if not ok then
	check (false, "Lua error: " .. tostring (err))
end
check (AudioEngine:running (), "the audio engine ran to the end")
print (string.format ("CHECK info: %d s in the session", os.time () - t0))
finish ()
close_session ()
