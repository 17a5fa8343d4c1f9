// zh-CN and en strings of the subscriber app; t(key) reads the current language.
const STRINGS = {
  "zh-CN": {
    skip: "跳到正文", app_name: "预警", nav: "主菜单", nav_inbox: "预警", nav_settings: "设置",
    offline: "您已离线：显示保存在本设备上的预警。",
    signup_title: "接收您所在地的预警", signup_intro: "选择您所在的区或街道、要接收的预警类别和级别，不到一分钟即可完成。",
    errors_title: "请更正以下问题", where_legend: "所在地", region_search: "搜索区或街道",
    region_hint: "输入名称，如 朝阳 或 Chaoyang，然后在列表中选择。", region_choose: "区或街道",
    geo_hint: "可选：共享您的位置，以接收按地图范围发布的预警并查看最近的避难场所。位置只在您注册时发送，可在“设置”中更新或删除。",
    geo_use: "使用我的位置", geo_got: "已获取位置：{lat}, {lon}", geo_denied: "未能获取位置：{why}", geo_forget: "不使用位置",
    classes_legend: "接收哪些预警", level_legend: "从哪个级别开始接收",
    quiet_legend: "免打扰时段（可选）", quiet_hint: "此时段内不响铃，需立即行动的红色（特别严重）预警除外。",
    quiet_from: "从", quiet_to: "到", language_legend: "语言",
    sms_note: "希望应用无法送达时收到短信？注册后可在“设置”中添加手机号码。", signup_submit: "开始接收预警", signing_up: "正在注册……",
    inbox_title: "预警", filter_current: "当前", filter_past: "过去", filter_all: "全部",
    inbox_empty: "暂无预警。预警发布后会立即显示在这里。",
    stream_live: "实时接收中", stream_reconnecting: "连接中断，正在重新连接……",
    back: "返回预警列表", confirm: "我已安全 / 我已看到", confirmed: "已确认，谢谢。", confirm_failed: "确认未能发送，联网后请重试。",
    shelters_title: "去哪里：最近的开放避难场所", shelters_from_location: "按您的位置计算", shelters_from_district: "按您所在区的中心计算",
    shelter_capacity: "可容纳 {n} 人", shelter_line: "{dir}方向 {dist}",
    map_caption: "地图：您的位置和避难场所（编号），上方为北，粗线通往最近的避难场所。无底图，线为直线。",
    map_label: "您与最近避难场所的位置示意图",
    settings_title: "设置", location_title: "位置", location_hint: "您的位置用于匹配按地图范围发布的预警和查找最近的避难场所。",
    map_you: "您的位置", map_district: "所在区中心",
    sms_title: "应用无法送达时用短信通知我", sms_hint: "可选。号码须经短信验证码确认后才会使用。", sms_number: "手机号码",
    sms_send: "发送验证码", sms_code: "短信验证码", sms_confirm: "确认号码", me_sms: "短信",
    sms_sent: "验证码已发送至 {number}，请输入。", sms_done: "号码已确认，应用无法送达时将发送短信。",
    sms_unconfirmed: "{number}（未确认）", sms_confirmed: "{number}（已确认）", sms_failed: "未能完成，请稍后再试。",
    sms_number_missing: "请输入手机号码。", sms_none: "未添加",
    loc_update: "更新我的位置", loc_remove: "删除我的位置", loc_updated: "位置已更新。", loc_removed: "位置已删除。",
    sound_title: "声音", sound_allow: "红色预警时响铃",
    forget_title: "忘记我", forget_hint: "从服务器和本设备删除您的订阅，之后将不再收到预警。", forget: "忘记我",
    forget_q: "确定删除您的订阅吗？此操作无法撤销。", forget_yes: "是的，删除", forget_no: "不，保留",
    alarm_open: "查看预警", me_region: "所在地", me_location: "位置", me_none: "未共享", me_level: "级别", me_language: "语言",
    lc_active: "生效中", lc_updated: "已更新", lc_cancelled: "已解除", lc_expired: "已过期", lc_updated_by: "已被预警 {n} 更新",
    st_sent: "新", st_delivered: "未读", st_read: "已读", st_confirmed: "已确认",
    new_warning: "新预警：{title}", sent_at: "发布于 {t}",
  },
  en: {
    skip: "Skip to content", app_name: "Warnings", nav: "Main", nav_inbox: "Warnings", nav_settings: "Settings",
    offline: "You are offline: showing the warnings saved on this device.",
    signup_title: "Get warnings for where you are", signup_intro: "Choose your district or street, what to hear about and from which level. It takes under a minute.",
    errors_title: "There is a problem", where_legend: "Where", region_search: "Search district or street",
    region_hint: "Type a name, e.g. 朝阳 or Chaoyang, then choose from the list.", region_choose: "District or street",
    geo_hint: "Optional: share your location for warnings drawn on a map and the nearest shelters. It is sent only when you sign up, and you can change or remove it in Settings.",
    geo_use: "Use my location", geo_got: "Location found: {lat}, {lon}", geo_denied: "No location: {why}", geo_forget: "Do not use my location",
    classes_legend: "What to hear about", level_legend: "From which level",
    quiet_legend: "Quiet hours (optional)", quiet_hint: "No sound in these hours, except for red (Extreme) warnings that need action now.",
    quiet_from: "From", quiet_to: "To", language_legend: "Language",
    sms_note: "Want a text message when the app cannot reach you? Add your mobile number in Settings after signing up.", signup_submit: "Start getting warnings", signing_up: "Signing up…",
    inbox_title: "Warnings", filter_current: "Current", filter_past: "Past", filter_all: "All",
    inbox_empty: "No warnings. You will see them here the moment they are issued.",
    stream_live: "Live", stream_reconnecting: "Connection lost, reconnecting…",
    back: "Back to warnings", confirm: "I am safe / I have seen this", confirmed: "Confirmed, thank you.", confirm_failed: "Could not send the confirmation; try again when online.",
    shelters_title: "Where to go: nearest open shelters", shelters_from_location: "From your location", shelters_from_district: "From your district's centre",
    shelter_capacity: "room for {n} people", shelter_line: "{dist} {dir}",
    map_caption: "Map: you and the shelters (numbered), north up; the bold line leads to the nearest. No map tiles; lines are straight.",
    map_label: "Sketch of where you and the nearest shelters are",
    settings_title: "Settings", location_title: "Location", location_hint: "Your location is used to find warnings drawn on a map and the nearest shelters.",
    map_you: "You", map_district: "Your district's centre",
    sms_title: "SMS when the app cannot reach you", sms_hint: "Optional. Your number is used only after you confirm it with the code we text to it.",
    sms_number: "Mobile number", sms_send: "Text me a code", sms_code: "Code from the text message",
    sms_confirm: "Confirm my number", me_sms: "SMS",
    sms_sent: "We texted a code to {number}. Enter it below.", sms_done: "Number confirmed: you will get a text when the app cannot reach you.",
    sms_unconfirmed: "{number} (unconfirmed)", sms_confirmed: "{number} (confirmed)", sms_failed: "That did not work; try again later.",
    sms_number_missing: "Enter your mobile number.", sms_none: "not added",
    loc_update: "Update my location", loc_remove: "Remove my location", loc_updated: "Location updated.", loc_removed: "Location removed.",
    sound_title: "Sound", sound_allow: "Sound an alarm for red warnings",
    forget_title: "Forget me", forget_hint: "Deletes your subscription from the server and this device. You will get no more warnings here.", forget: "Forget me",
    forget_q: "Delete your subscription? This cannot be undone.", forget_yes: "Yes, delete it", forget_no: "No, keep it",
    alarm_open: "Open the warning", me_region: "Area", me_location: "Location", me_none: "not shared", me_level: "Level", me_language: "Language",
    lc_active: "Active", lc_updated: "Updated", lc_cancelled: "Cancelled", lc_expired: "Expired", lc_updated_by: "Updated by warning {n}",
    st_sent: "New", st_delivered: "Unread", st_read: "Read", st_confirmed: "Confirmed",
    new_warning: "New warning: {title}", sent_at: "Issued {t}",
  },
};

// Warning levels: Chinese warning colours, always with a text label.
export const LEVELS = [
  { severity: "Minor", colour: "blue", "zh-CN": "蓝色预警及以上（全部）", en: "Blue and above (all)" },
  { severity: "Moderate", colour: "yellow", "zh-CN": "黄色预警及以上", en: "Yellow and above" },
  { severity: "Severe", colour: "orange", "zh-CN": "橙色预警及以上", en: "Orange and above" },
  { severity: "Extreme", colour: "red", "zh-CN": "仅红色预警", en: "Red only" },
];
export const SEVERITY_LEVEL = {
  Extreme: { colour: "red", "zh-CN": "红色预警", en: "Red warning" },
  Severe: { colour: "orange", "zh-CN": "橙色预警", en: "Orange warning" },
  Moderate: { colour: "yellow", "zh-CN": "黄色预警", en: "Yellow warning" },
  Minor: { colour: "blue", "zh-CN": "蓝色预警", en: "Blue warning" },
  Unknown: { colour: "blue", "zh-CN": "预警", en: "Warning" },
};
export const CLASSES = [
  ["Met", "气象", "Weather"], ["Geo", "地质与地震", "Earthquake and geology"], ["Fire", "火灾", "Fire"],
  ["Health", "卫生", "Health"], ["Env", "环境", "Environment"], ["Safety", "安全", "Safety"],
  ["Security", "治安", "Security"], ["Rescue", "救援", "Rescue"], ["Transport", "交通", "Transport"],
  ["Infra", "基础设施", "Infrastructure"], ["CBRNE", "危化品与核生化", "Chemical and nuclear"], ["Other", "其他", "Other"],
];

let current = "zh-CN";

export function setLanguage(lang) {
  current = lang === "en" ? "en" : "zh-CN";
  document.documentElement.lang = current;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  document.title = current === "en" ? "Warnings · warncast" : "预警 · warncast";
}

export function language() { return current; }

export function t(key, vars = {}) {
  const text = (STRINGS[current] && STRINGS[current][key]) || STRINGS.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}
