package route

import "strings"

// Family is a browser family.
type Family string

// Browser families ClassifyUserAgent reports.
const (
	FamilyUnknown Family = ""
	FamilyEdge    Family = "edge"
	FamilyOpera   Family = "opera"
	FamilyIE      Family = "ie"
	FamilyFirefox Family = "firefox"
	FamilyChrome  Family = "chrome"
	FamilySafari  Family = "safari"
	// FamilyOther is a browser with its own token that is none of the
	// above (Samsung Internet, Yandex, UC), though Chromium- or
	// WebKit-based.
	FamilyOther Family = "other"
)

// UAClass is the class of a User-Agent string.
type UAClass struct {
	Family Family
	Mobile bool
	Bot    bool
}

// familyRules are tried in order, first hit wins. The order matters
// because browsers quote each other: Edge and Opera carry "Chrome/",
// Chrome carries "Safari/", IE 11 has no "MSIE".
var familyRules = []struct {
	family Family
	tokens []string
}{
	{FamilyEdge, []string{"Edg/", "EdgA/", "EdgiOS/", "Edge/"}},
	{FamilyOpera, []string{"OPR/", "OPT/", "OPiOS/", "Opera"}},
	{FamilyIE, []string{"MSIE ", "Trident/"}},
	{FamilyOther, []string{"SamsungBrowser/", "YaBrowser/", "UCBrowser/"}},
	{FamilyFirefox, []string{"Firefox/", "FxiOS/"}},
	{FamilyChrome, []string{"Chrome/", "CriOS/", "Chromium/"}},
}

// botTokens mark automated clients (case-insensitive substrings).
var botTokens = []string{
	"crawler", "spider", "slurp", "facebookexternalhit", "mediapartners-google",
	"feedfetcher", "headlesschrome", "phantomjs", "scrapy", "curl/", "wget/",
	"python-requests/", "python-urllib/", "go-http-client/", "okhttp/",
	"java/", "libwww-perl/", "apache-httpclient/",
}

// ClassifyUserAgent puts a User-Agent into a small documented class set:
//
//   - Bot: a word ending in "bot" ("Googlebot/2.1", "bingbot", "Slackbot-",
//     "TelegramBot") except the phone brand "CUBOT", or one of botTokens
//     (crawler, spider, HTTP libraries, headless browsers).
//   - Family: the first of familyRules whose token occurs (case-sensitive);
//     else "safari" when "Safari/" occurs without "Android" (the old
//     Android browser also says Safari); else unknown.
//   - Mobile: "Mobi" occurs (MDN's advice: phones say "Mobile", tablets do
//     not), or "iPhone", "iPod", "Opera Mini". iPadOS 13+ and Android
//     tablets are not mobile.
func ClassifyUserAgent(ua string) UAClass {
	var c UAClass
	c.Bot = isBot(ua)
	for _, r := range familyRules {
		for _, t := range r.tokens {
			if strings.Contains(ua, t) {
				c.Family = r.family
				break
			}
		}
		if c.Family != FamilyUnknown {
			break
		}
	}
	if c.Family == FamilyUnknown && strings.Contains(ua, "Safari/") && !strings.Contains(ua, "Android") {
		c.Family = FamilySafari
	}
	c.Mobile = strings.Contains(ua, "Mobi") || strings.Contains(ua, "iPhone") ||
		strings.Contains(ua, "iPod") || strings.Contains(ua, "Opera Mini")
	return c
}

func isBot(ua string) bool {
	l := strings.ToLower(ua)
	for _, t := range botTokens {
		if strings.Contains(l, t) {
			return true
		}
	}
	for i := 0; ; {
		j := strings.Index(l[i:], "bot")
		if j < 0 {
			return false
		}
		end := i + j + 3
		if end == len(l) || !isLetter(l[end]) {
			if !(i+j >= 2 && l[i+j-2:i+j] == "cu" && (i+j == 2 || !isLetter(l[i+j-3]))) {
				return true
			}
		}
		i = end
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
