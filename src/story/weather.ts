/** The weather a scene's text speaks of, for painters that draw it. */
export type Weather = "clear" | "rain" | "snow" | "fog";

/** What the text says of the weather: rain, snow, fog, or nothing. */
export function weatherOf(text: string): Weather {
  if (/雨|rain|storm|drizzle/i.test(text)) return "rain";
  if (/雪|snow|blizzard/i.test(text)) return "snow";
  if (/雾|霾|fog|mist|haze/i.test(text)) return "fog";
  return "clear";
}
